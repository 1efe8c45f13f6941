"""``python -m reddiff_imaging`` runs the command line (also under ``torchrun``)."""

from reddiff_imaging.cli import main

raise SystemExit(main())
