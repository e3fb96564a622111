"""``python -m fastest``: the ``fastest`` command line."""

from fastest.cli.main import main

if __name__ == "__main__":
    main()
