from codeuf.cli import main

main()
