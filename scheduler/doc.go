// Package scheduler turns the U-Net's prediction into the next latent. It
// holds the samplers users know from diffusers and the web UIs, by name —
// ddpm, ddim, pndm, lms, euler, euler_a, heun, dpm++2m (optionally with
// Karras σs), lcm — and matches diffusers number for number (timesteps, σs
// and every intermediate tensor; see scheduler_test.go).
//
// # The forward process
//
// Training (Ho et al. 2020, "Denoising Diffusion Probabilistic Models")
// destroys a latent x₀ in T = 1000 small steps of Gaussian noise with
// variances β₀ … β_{T−1}:
//
//	q(xₜ | xₜ₋₁) = N(√(1−βₜ)·xₜ₋₁, βₜ·I).
//
// Stable Diffusion's βs are "scaled_linear": the square roots are evenly
// spaced from √0.00085 to √0.012. With αₜ = 1 − βₜ and ᾱₜ = α₀·α₁·…·αₜ the
// steps compose into a single jump (formula (4) of the paper):
//
//	q(xₜ | x₀) = N(√ᾱₜ·x₀, (1−ᾱₜ)·I),  that is  xₜ = √ᾱₜ·x₀ + √(1−ᾱₜ)·ε,  ε ~ N(0, I).
//
// This is [Schedule.AddNoise]. ᾱ falls from 0.99915 at t = 0 to 0.0047 at
// t = 999, where the latent is almost pure noise. The U-Net ε_θ(xₜ, t) learns
// to predict the ε that was added (loss ‖ε − ε_θ(xₜ, t)‖²), or, for
// v-prediction (SD 2.x 768-v), v = √ᾱₜ·ε − √(1−ᾱₜ)·x₀ ([Schedule.Velocity]).
//
// # The reverse step
//
// Sampling runs the chain backwards from x_T ~ N(0, I). At xₜ the predicted
// noise ε̂ = ε_θ(xₜ, t) gives an estimate of the clean latent (formula (15)),
//
//	x̂₀ = (xₜ − √(1−ᾱₜ)·ε̂)/√ᾱₜ,
//
// and the forward process, once x₀ is known, has a Gaussian posterior
// (formulas (6) and (7)):
//
//	q(xₜ₋₁ | xₜ, x₀) = N(µ̃ₜ, β̃ₜ·I),
//	µ̃ₜ = √ᾱₜ₋₁·βₜ/(1−ᾱₜ)·x₀ + √αₜ·(1−ᾱₜ₋₁)/(1−ᾱₜ)·xₜ,
//	β̃ₜ = (1−ᾱₜ₋₁)/(1−ᾱₜ)·βₜ.
//
// [DDPM]'s step samples it with x̂₀ in place of x₀: xₜ₋₁ = µ̃ₜ + √β̃ₜ·z with
// z ~ N(0, I). Inference skips timesteps (20–50 of the 1000): a step from t
// to t' uses the same formulas with βₜ = 1 − ᾱₜ/ᾱ_{t'}.
//
// # The other samplers
//
// [DDIM] keeps x̂₀ and the predicted ε̂ instead of drawing fresh noise, which
// makes sampling deterministic. [PNDM] (SD 1.5's default) combines the last
// ε̂s into a higher-order one. The σ samplers — [Euler], [EulerAncestral],
// [LMS], [Heun] and [DPMSolver] — divide by √ᾱₜ: xₜ/√ᾱₜ = x₀ + σ·ε with
// σ = √((1−ᾱₜ)/ᾱₜ), so sampling is solving the ODE dx/dσ = (x − x̂₀)/σ from
// σ_max = 14.6 down to 0 (Karras et al. 2022). [LCM] samples consistency-
// distilled models in 1–8 steps.
//
// # Conventions
//
// Latents are flat []float32 of any shape, usually (B, 4, H/8, W/8); every
// operation is elementwise. Steps are indexed by i, not by timestep value;
// Timesteps()[i] is what the U-Net sees. Tables and arithmetic are float32
// in the order torch evaluates them, so results agree with diffusers to the
// last bit or nearly. Stochastic samplers draw noise from an injected
// [Noise] (package rng provides torch-exact generators), so a run can
// replay recorded noise.
package scheduler
