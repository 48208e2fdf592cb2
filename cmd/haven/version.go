package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

func init() {
	addCommand(&cobra.Command{
		Use:   "version",
		Short: "Print haven's version",
		Args:  cobra.NoArgs,
		Run: func(c *cobra.Command, _ []string) {
			fmt.Fprintf(c.OutOrStdout(), "haven %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		},
	})
}
