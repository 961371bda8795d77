from devenv.launch import main

main()
