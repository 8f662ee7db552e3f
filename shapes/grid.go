package shapes

import (
	"image"
	"image/color"
	"image/draw"
)

// gridGap is the width of the grey lines between a grid's cells.
const gridGap = 2

// Grid lays images out in rows of cols cells (all of them in one row if
// cols <= 0), each cell as large as the largest image, images at their
// cells' top left, cells separated by grey lines gridGap pixels wide. It
// returns an empty image for no images.
func Grid(imgs []image.Image, cols int) *image.NRGBA {
	if len(imgs) == 0 {
		return image.NewNRGBA(image.Rectangle{})
	}
	if cols <= 0 || cols > len(imgs) {
		cols = len(imgs)
	}
	rows := (len(imgs) + cols - 1) / cols
	var cw, ch int
	for _, m := range imgs {
		cw, ch = max(cw, m.Bounds().Dx()), max(ch, m.Bounds().Dy())
	}
	out := image.NewNRGBA(image.Rect(0, 0, cols*cw+(cols-1)*gridGap, rows*ch+(rows-1)*gridGap))
	draw.Draw(out, out.Bounds(), image.NewUniform(color.NRGBA{128, 128, 128, 255}), image.Point{}, draw.Src)
	for k, m := range imgs {
		x, y := (k%cols)*(cw+gridGap), (k/cols)*(ch+gridGap)
		r := image.Rect(x, y, x+m.Bounds().Dx(), y+m.Bounds().Dy())
		draw.Draw(out, r, m, m.Bounds().Min, draw.Src)
	}
	return out
}
