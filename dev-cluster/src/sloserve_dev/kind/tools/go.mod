module sloserve.local/kindtools

go 1.24
