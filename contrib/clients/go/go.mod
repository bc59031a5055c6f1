module refguard.example/refguard-check

go 1.18
