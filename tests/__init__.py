"""The project's tests.

Where PYTHONDONTWRITEBYTECODE is set (many containers and CI images), Python caches no bytecode:
every test process then compiled our modules again, and pytest rewrote the asserts of every
test module again (~2.5 s of CPU in each process that collects the tests). The test session
writes those caches (`__pycache__`, ignored by git) as pytest does without the variable; the
commands the tests start read them. This package is imported before any conftest or test module.
"""

import sys

sys.dont_write_bytecode = False
