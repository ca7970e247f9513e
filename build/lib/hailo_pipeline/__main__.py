from hailo_pipeline.cli import main

raise SystemExit(main())
