"""Every environment variable the course reads or sets, by one name each; readers and writers use
these constants. This module imports nothing, so the sandbox and the grading workers can use it
without paying for course.toml's schema."""

ENV_CONFIG = "COURSE_TOML"
ENV_MIRROR = "COURSE_DATA_MIRROR"
ENV_PROFILE = "COURSE_PROFILE"
ENV_EXECUTION = "NBGRADER_EXECUTION"
ENV_THREADS = "COURSE_THREADS"
ENV_SANDBOX = "COURSEKIT_SANDBOX"
ENV_LAB_TOKEN = "COURSE_LAB_TOKEN"
#: What each of them does.
ENVIRONMENT = {
    ENV_CONFIG: "the course.toml to use (else found upwards from the working directory); "
                "the command line sets it for the processes it starts",
    ENV_MIRROR: "a folder holding MNIST/raw/*-ubyte (torchvision's layout) to copy MNIST from; overrides [data] mirror",
    ENV_PROFILE: "the run profile (full, cpu or grading); overrides [profiles] default and the automatic choice",
    ENV_EXECUTION: "set by nbgrader (autograde, validate) while it executes a notebook: the grading profile, "
                   "no progress bars",
    ENV_THREADS: "torch's CPU threads in a notebook's kernel (set by the grader for every grading kernel); "
                 "else the profile's threads",
    ENV_SANDBOX: "the grading sandbox's spec file of the submission a grading process runs (set by the grader)",
    ENV_LAB_TOKEN: "the access token of `coursekit lab`'s JupyterLab (else a random one)",
}
