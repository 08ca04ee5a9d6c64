//go:build tools

// Package tools keeps the CLI module in the build list, so its dependency versions win.
package tools

import _ "github.com/temporalio/cli/temporalcli"
