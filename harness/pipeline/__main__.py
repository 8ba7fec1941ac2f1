# SPDX-License-Identifier: Apache-2.0
from harness.pipeline.measure import main

raise SystemExit(main())
