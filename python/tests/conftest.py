from pathlib import Path

import pytest

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"


@pytest.fixture(scope="session")
def testdata() -> Path:
    return TESTDATA
