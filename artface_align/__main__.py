"""``python -m artface_align fetch NAME...``: download and verify models into this environment."""
from .models import main

raise SystemExit(main())
