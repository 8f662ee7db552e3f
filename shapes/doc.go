// Package shapes generates a small captioned world of coloured shapes, the
// data sdgo trains its own small Stable Diffusion on, and scores images
// against captions from their pixels alone.
//
// # The world
//
// A Scene is one or two shapes (circle, square, triangle) on a plain
// background, each shape one of eight colours (red, green, blue, yellow,
// purple, orange, white, black), small or large, and on the left, on the
// right, at the top, at the bottom or in the center. A shape's colour is
// never the background's, and edges are anti-aliased analytically. Sample
// draws scenes from a math/rand/v2 generator the caller seeds, so a seed
// gives the same data byte for byte; Render paints them at any size
// (64×64 in training) and ToTensor turns the pixels into a (3, H, W)
// tensor in [-1, 1].
//
// # Captions
//
// Scene.Caption words a scene in varied ways ("a big blue square at the
// top, white background", "two green triangles", "a red circle above an
// orange square"), leaving some attributes out but never saying anything
// false. The one rule needed for that is DefaultBackground: a caption that
// names no background means white (black if a shape is white). ParseCaption
// reads captions back into a Spec, the attributes a caption states; every
// caption of the required grammar
//
//	a [small|large] <colour> <shape> [on the left|on the right|at the top|at the bottom|in the center] [on a <colour> background]
//
// parses, and Spec.String writes it.
//
// # Train and held-out splits
//
// Every full attribute combination (shapes, colours, sizes, positions,
// background) belongs to one split, decided by a hash of its canonical
// caption (Spec.Split). Sample(r, Train) never draws a held-out
// combination, not even as one of two shapes, so HeldOut's evaluation prompts, such as "a small orange
// triangle in the center on a blue background", ask for combinations of
// known words the model has never seen together.
//
// # Scoring
//
// Read measures an image without any model: the background from the
// border, shapes as regions that differ from it, and for each its colour
// and the moments of its coverage, which give area, centre and kind (a
// triangle is lopsided, a square has corners) and which a blur leaves
// alone. Score compares the reading with a caption's Spec attribute by
// attribute, and Table prints the share of images right on each. On
// rendered scenes it agrees with the truth on every attribute, and it
// still does on blurred and noisy ones (see the tests), so a model's score
// measures the model.
package shapes
