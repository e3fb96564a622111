"""The local data server of the loader tests (``data_server``), for apps trained on real-format archives."""

from tests.dataset.data.conftest import data_server  # noqa: F401  (a pytest fixture, found by name)
