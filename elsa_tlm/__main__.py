"""``python -m elsa_tlm`` = the ``elsa-tlm`` command."""

import sys

from elsa_tlm.cli import main

sys.exit(main())
