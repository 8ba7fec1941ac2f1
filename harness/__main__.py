# SPDX-License-Identifier: Apache-2.0
from harness.cli import main

raise SystemExit(main())
