from clusterpolicy.cli import main

raise SystemExit(main())
