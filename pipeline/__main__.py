from pipeline.cli import main

if __name__ == "__main__":  # also keeps spawned worker processes from running the CLI
    main()
