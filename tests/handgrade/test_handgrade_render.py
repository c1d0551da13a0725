"""coursekit.handgrade.render: answers as HTML with math as MathML and no HTML of the student's."""

from coursekit.handgrade.render import answer_html, text_html


def test_math_becomes_mathml_and_markdown_renders():
    html = answer_html("**合并**：$W_2(W_1x+b_1)+b_2$ 与 $$\\frac{1}{1-p}$$")
    assert "<strong>合并</strong>" in html
    assert html.count("<math") == 2 and "W_2" not in html and "\\frac" not in html


def test_the_students_html_is_escaped():
    html = answer_html("<script>alert(1)</script> <img src=x onerror=alert(1)> `<b>`")
    assert "<script" not in html and "<img" not in html and "&lt;script&gt;" in html


def test_a_formula_that_cannot_be_converted_stays_as_latex():
    assert answer_html("$\\unknowncommand{x}$ 与 $x$").startswith("<p>$\\unknowncommand{x}$ 与 <math")


def test_text_html():
    assert text_html("a<b\nc") == "a&lt;b<br>c"
