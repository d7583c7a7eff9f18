"""Running SQL transformations inside their destination: plans, SQL statements, sessions, runner."""
