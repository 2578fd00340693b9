from floorgate.cli import main

raise SystemExit(main())
