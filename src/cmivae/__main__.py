"""``python -m cmivae`` runs the command line."""

from cmivae.cli import main

raise SystemExit(main())
