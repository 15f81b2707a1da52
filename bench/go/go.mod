module goringbench

go 1.23
