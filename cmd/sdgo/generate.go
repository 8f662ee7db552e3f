package main

import (
	"io"
)

func runGenerate(args []string, stdout, stderr io.Writer) error {
	return usagef("generate: not yet wired")
}
