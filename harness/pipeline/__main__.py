from harness.pipeline.measure import main

raise SystemExit(main())
