// Command envexample prints .env.example from the code's list of variables:
//
//	go run ./deploy/cmd/envexample > .env.example
package main

import (
	"fmt"

	"github.com/madbase/madbase/deploy"
	"github.com/madbase/madbase/shared/config"
)

func main() {
	fmt.Print(deploy.EnvExample(config.Vars()))
}
