from sinkmap.cli import main

raise SystemExit(main())
