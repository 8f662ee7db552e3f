package vae

import (
	"fmt"

	"github.com/sdgo/sdgo/weights"
)

// View presents a VAE checkpoint under diffusers' names, whatever its layout:
// diffusers' (decoder.up_blocks.0.resnets.0.…, bare or under vae.), or the
// original LDM one (decoder.up.3.block.0.…, bare as in a separate VAE file
// or under first_stage_model. as in a full SD checkpoint), which
// [weights.VAEFromLDM] renames.
func View(src weights.Source) (weights.Source, error) {
	const probe = "decoder.mid_block.resnets.0.conv1.weight" // diffusers
	const ldmProbe = "decoder.mid.block_1.conv1.weight"      // LDM
	switch {
	case has(src, probe):
		return src, nil
	case has(src, "vae."+probe):
		return weights.Prefixed(src, "vae."), nil
	case has(src, ldmProbe), has(src, weights.LDMVAEPrefix+ldmProbe):
		return weights.VAEFromLDM(src), nil
	}
	return nil, fmt.Errorf("vae: no VAE found (looked for %s, bare or under vae., and %s, bare or under %s)", probe, ldmProbe, weights.LDMVAEPrefix)
}

func has(s weights.Source, name string) bool {
	_, ok := s.Info(name)
	return ok
}
