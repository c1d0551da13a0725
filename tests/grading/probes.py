"""Code the sandbox tests run inside a sandbox: try something, record what stopped it."""

#: Defines ``attempt(name, action)``: runs ``action()`` and records in ``result[name]`` "open" or the
#: exception's type name. Prepend it to a probe, which prints ``result`` as JSON at its end.
ATTEMPT = r'''
result = {}
def attempt(name, action):
    try:
        action(); result[name] = "open"
    except Exception as err:
        result[name] = type(err).__name__
'''
