from kjs.cli import main

main()
