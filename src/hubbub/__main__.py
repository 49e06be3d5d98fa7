"""`python -m hubbub` is the same as the `hubbub` command."""

import sys

from hubbub.cli import main

sys.exit(main())
