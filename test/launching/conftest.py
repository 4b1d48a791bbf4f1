"""The launch tests' shared fixture: the runner's params files kept in each test's own folder."""
import tempfile

import pytest


@pytest.fixture(autouse=True)
def params_files_in_tmp_path(tmp_path, monkeypatch):
    """The runner's launch_params_* files go to this test's folder (planning writes them; a test that
    only plans does not remove them), here and in the runner processes the tests start."""
    folder = tmp_path / 'tmp'
    folder.mkdir()
    monkeypatch.setattr(tempfile, 'tempdir', str(folder))
    monkeypatch.setenv('TMPDIR', str(folder))
