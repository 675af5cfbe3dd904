module github.com/madbase/madbase/cmd

go 1.26.8
require (
	github.com/madbase/madbase/bus v0.0.0
	github.com/madbase/madbase/control v0.0.0
	github.com/madbase/madbase/edge v0.0.0
	github.com/madbase/madbase/shared v0.0.0
	github.com/madbase/madbase/worker v0.0.0
)

replace (
	github.com/madbase/madbase/bus => ../bus
	github.com/madbase/madbase/control => ../control
	github.com/madbase/madbase/edge => ../edge
	github.com/madbase/madbase/shared => ../shared
	github.com/madbase/madbase/worker => ../worker
)
