"""``python -m comfyui_animeinterp.core.cli``: the ``animeinterp`` command."""
import sys

from . import main

sys.exit(main())
