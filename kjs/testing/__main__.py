from kjs.testing.cli import main

main()
