package main

import (
	"fmt"
	"image"
	"strings"

	fig "github.com/sdgo/sdgo/internal/figure"
	"github.com/sdgo/sdgo/sdmini"
	"github.com/sdgo/sdgo/shapes"
)

// vaeCols is the number of held-out pairs the vae figure shows.
const vaeCols = 8

// figVAE shows what the model's autoencoder carries of two shapes: the
// scenes `sdgo eval --reconstruct` draws for the first held-out pair
// captions, and under each its reconstruction (encoded to the latent and
// decoded, as every image the model makes is decoded), labelled with what
// the pair scorer finds wrong in it.
func (g *gen) figVAE() (image.Image, error) {
	ev, err := sdmini.EvaluateModel(g.model, sdmini.EvalOptions{N: vaeCols, Objects: 2, Reconstruct: true})
	if err != nil {
		return nil, err
	}
	var scenes, recons []fig.Cell
	for i, sc := range ev.PairScenes {
		scenes = append(scenes, fig.Cell{Img: sc.Render(sdmini.ImageSize)})
		recons = append(recons, fig.Cell{Img: ev.PairImages[i], Label: pairVerdict(ev.PairResults[i])})
	}
	if len(scenes) == 0 {
		return nil, fmt.Errorf("vae: no held-out pairs")
	}
	lat := g.model.VAE.Config.LatentChannels
	f := g.model.VAEFactor()
	title := fmt.Sprintf("held-out pairs, and what the VAE gives back through its %dx%dx%d latent", sdmini.ImageSize/f, sdmini.ImageSize/f, lat)
	side := max(g.s.Side, 24*fig.CharW) // room for the longest verdict
	return fig.Grid([][]fig.Cell{scenes, recons}, []string{"scene", "decoded"}, side, title), nil
}

// pairVerdict names what the pair scorer finds wrong in r
// ("wrong: kind+count"), or says "ok".
func pairVerdict(r shapes.PairResult) string {
	var wrong []string
	if !r.Kind[0] || !r.Kind[1] {
		wrong = append(wrong, "kind")
	}
	if !r.Colour[0] || !r.Colour[1] {
		wrong = append(wrong, "colour")
	}
	if !r.Relation {
		wrong = append(wrong, "place")
	}
	if !r.Count {
		wrong = append(wrong, "count")
	}
	if len(wrong) == 0 {
		return "ok"
	}
	return "wrong: " + strings.Join(wrong, "+")
}
