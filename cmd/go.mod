module github.com/madbase/madbase/cmd

go 1.26.8

require (
	github.com/madbase/madbase/bus v0.0.0
	github.com/madbase/madbase/control v0.0.0
	github.com/madbase/madbase/edge v0.0.0
	github.com/madbase/madbase/shared v0.0.0
	github.com/madbase/madbase/worker v0.0.0
)

require (
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/pgx/v5 v5.12.0 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
	golang.org/x/text v0.43.0 // indirect
)

replace (
	github.com/madbase/madbase/bus => ../bus
	github.com/madbase/madbase/control => ../control
	github.com/madbase/madbase/edge => ../edge
	github.com/madbase/madbase/shared => ../shared
	github.com/madbase/madbase/worker => ../worker
)
