module sloserve.io/bench/loadgen

go 1.26
