"""The HTML validation report."""

from __future__ import annotations

from html.parser import HTMLParser

from expectations.report import html_report

ROWS = [
    {"dataset": "cbs_national_benefits", "batch": "37789ksz@2025", "expectation": "expect_column_values_to_be_between",
     "column": "TotaalBijstandsuitkeringen_11", "severity": "critical", "success": False, "element_count": 352,
     "unexpected_count": 1, "unexpected_sample": ["-4.0"], "message": "1 unexpected of 352, e.g. -4.0"},
    {"dataset": "cbs_national_benefits", "batch": "37789ksz@2025", "expectation": "expect_column_to_exist",
     "column": "Perioden", "severity": "critical", "success": True, "element_count": 352, "unexpected_count": None,
     "unexpected_sample": [], "message": "ok"},
    {"dataset": "uwv_vacancies", "batch": "<script>", "expectation": "expect_x", "column": None, "severity": "warning",
     "success": False, "element_count": 3, "unexpected_count": 1, "unexpected_sample": '["a<b"]', "message": "odd & new"},
]


class Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def test_report_lists_failures_first_escapes_text_and_summarises():
    page = html_report("run-7", "failed", ROWS, [{"file": "x.csv", "status": "rejected", "message": "bad", "report": "q/x.csv.report.txt"}])
    parser = Cells()
    parser.feed(page)
    text = "".join(parser.text)
    assert "Run run-7: failed. 3 checks, 1 critical failures, 1 warnings." in text
    assert "script" not in parser.tags and "&lt;script&gt;" in page and "a&lt;b" in page and "odd &amp; new" in page
    assert text.index("FAILED") < text.index("passed")
    assert "x.csv" in text and "rejected" in text
    assert page.count("<table>") == 3
