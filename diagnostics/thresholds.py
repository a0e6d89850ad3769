"""Every number that turns a diagnostic measurement into a verdict, in one place.

Each field says where its value comes from: SPEC.md §6 / seed 001 §3.5.3 and exercise 3.5.3 (the
`debug_model_predictions`, `debug_noise_schedule`, `diagnose_smoothness` and `DDPMSamplingDiagnostics`
code), or, where the seed is silent or its number was lost in the garbled text, the rationale for the
value chosen here. Pass a modified copy to the checks to change a rule:

    from dataclasses import replace
    strict = replace(DEFAULT_THRESHOLDS, projected_seconds_warn=10.0)
    check_performance(model, diffusion, thresholds=strict)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Thresholds:
    # ---- model basics (seed 001 exercise 3.5.3, `_check_model_basics`) -------------------------------------
    param_mean_warn: float = 1.0           # |mean of all weights| above this: warn (seed: abs(param_mean) > 1.0)
    param_std_warn: float = 10.0           # std of all weights above this: warn (seed: param_std > 10.0)
    param_absmax_warn: float = 100.0       # any |weight| above this: warn. Rationale: initialisations and trained
                                           # U-Net weights are O(1); 100 means a diverging run or a bad edit
    # ---- schedule (SPEC §6; seed 001 §3.5.3 `debug_noise_schedule`) ---------------------------------------
    beta0_warn: float = 0.01               # β_0 above this destroys the image too fast at the first step (seed)
    alphabar_T_warn: float = 0.01          # ᾱ_T above this: x_T is not pure noise, so sampling from N(0, I)
                                           # starts off the training distribution (seed: alphas_bar[-1] > 0.01)
    # ---- noise prediction on real noised data (SPEC §6; seed `debug_model_predictions`) -------------------
    eps_mean_warn: float = 0.5             # |mean ε̂| above this at any t: warn (seed)
    eps_std_dev_warn: float = 0.5          # |std ε̂ − 1| above this at any t: warn (seed)
    eps_mse_fail: float = 0.9              # mean MSE(ε̂, ε) over the t > 0 rows at or above this: fail. Rationale:
                                           # predicting ε̂ = 0 scores exactly 1, so ≥ 0.9 means the network has
                                           # learnt (almost) nothing; a trained tiny model scores ≈ 0.02–0.1.
                                           # t = 0 is left out: there ε is 1% of x_t and hard to see even when trained
    x0_eps_conditioning: float = 0.1       # for the x0 objective, rows where √(1/ᾱ_t − 1) < this are shown but not
                                           # judged: ε̂ = (x_t/√ᾱ − x̂_0)/√(1/ᾱ − 1) amplifies x̂_0 errors by > 10×
    # ---- x̂_0 along the sampling trajectory (SPEC §6; seed `analyze_sampling_debug`) -----------------------
    x0_range_tolerance: float = 0.1        # a pixel counts as "far outside" when |x̂_0| > 1 + this. Rationale: the
                                           # data's background is exactly −1, so a tiny error puts half the pixels
                                           # just outside [−1, 1]; the strict fraction is reported too
    x0_judge_max_t_fraction: float = 0.5   # only captured steps t ≤ this·T are judged. Rationale: at large t
                                           # x̂_0 = (x_t − √(1−ᾱ)ε̂)/√ᾱ divides by √ᾱ_t (0.006 at t = 999 for
                                           # linear), so early x̂_0 is far outside even for a good model, and
                                           # clip_denoised exists for exactly that
    x0_outside_warn: float = 0.05          # fraction far outside at a judged step above this: warn
    x0_outside_fail: float = 0.25          # ... above this: fail (a quarter of the pixels of the "clean" image
                                           # are out of range: the network does not predict images)
    x0_final_absmax_fail: float = 3.0      # |x̂_0| at the last captured step above this: fail (seed
                                           # `_check_sampling_quality`: output range outside [−3, 3])
    # ---- smoothness: Sobel edge energy generated / real (SPEC §6; seed `diagnose_smoothness`) -------------
    smooth_ratio_warn: float = 0.7         # below: over-smoothed (warn). The seed's number was lost in the text
                                           # ("warn when it falls well below 1"). Measured on 16×16 digits
                                           # (already soft: upscaled from 8×8): a Gaussian blur of σ = 1 px gives
                                           # 0.81, σ = 1.5 px 0.68, σ = 2 px 0.58, real vs other real 1.00; so 0.7
                                           # flags a blur a viewer clearly sees. Sharper, larger images lose edge
                                           # energy faster, so the same blur scores lower there
    smooth_ratio_high_warn: float = 1.3    # above: a third more edges than the data, i.e. leftover noise or
                                           # speckle (an undertrained model, too few steps); N(0, 1) noise clamped
                                           # to [−1, 1] scores 1.58 against digits (bounded images cap the ratio)
    smooth_outlier_frac_warn: float = 0.2  # share of samples whose edge energy lies outside the real images'
                                           # 1st–99th percentile range above this: warn (as blurred or noisy,
                                           # whichever side holds more). Rationale: real images score 2% by
                                           # construction; the mean ratio hides a batch that is part blur, part
                                           # noise (the 60-step model: ratio 0.96, yet 25% outside)
    # ---- diversity: generated vs real, same n (SPEC §6; seed `_check_sampling_quality`) --------------------
    diversity_ratio_fail: float = 0.1      # mean pairwise L2 (or per-pixel std) of the samples below 10% of the
                                           # real data's: the samples are (nearly) one image, i.e. mode collapse
    diversity_ratio_warn: float = 0.5      # below half the real data's spread: partial collapse (the seed's own
                                           # number was lost; low temperature and strong guidance also do this)
    diversity_ratio_high_warn: float = 1.5  # above: the samples vary more than the data, mostly leftover noise
                                           # (N(0, 1) noise clamped to [−1, 1] scores 1.76 against digits)
    diversity_abs_fail: float = 0.02       # with no real data to compare: mean pairwise RMS distance per pixel
                                           # (images in [−1, 1]) below this is a collapse. Rationale: two real
                                           # 16×16 digits differ by 0.58 RMS per pixel on average, 0.30 within
                                           # one class
    # ---- performance (seed exercise 3.5.3 `_check_performance`; §3.5.3 problem 3) -------------------------
    projected_seconds_warn: float = 60.0   # projected time of a full T-step DDPM run for one batch above this:
                                           # warn and suggest DDIM (seed: total_time > 60)
    # ---- sample quality (SPEC §6; seed exercise 3.6.3) -----------------------------------------------------
    # Measured with the shipped digits-cnn-64 against the 1,438-image digits training split (FID of n images
    # drawn with balanced classes, as the report's samples are; mean of 5 draws at n=64 / all 359 held-out):
    #   real held-out 0.62 ± 0.24 / 0.08 (0.26 at n=128, 0.14 at n=200);  pixel noise σ=0.1 0.66 / 0.17,
    #   σ=0.2 1.5 / 1.0, σ=0.3 4.0 / 3.9, σ=0.5 16 / 15;  3×3 box blur 1.9 / 1.1, Gaussian blur σ=1 px 3.0 / 2.1,
    #   5×5 box blur 19 / 17;  one image per class 3.0 / 2.7;  N(0, 1) noise 72 / 71;  the tiny conditional
    #   model of runs/bundled at step 1500 (DDIM-20) 0.73 ± 0.25 at n=64, 0.12 at n=359.
    fid_floor_ratio_warn: float = 3.0      # FID (at the floor's n and class counts) above this multiple of the
                                           # real-vs-real floor and above fid_abs_ok: warn. Rationale: the floor
                                           # is the best this n and network can show; FID itself has no unit. At
                                           # n=64 the floor is ≈ 0.6, so this rule (≈ 1.9) decides there
    fid_abs_ok: float = 1.0                # an FID at or below this (digits-cnn units) is never flagged, as 3× a
                                           # floor near 0 (0.08 at n=359) would flag models as good as real data
                                           # (0.1–0.3). It decides from n ≈ 130 up. Was 5.0, which passed visible
                                           # damage: σ=0.3 pixel noise (3.9), a σ=1 px blur (2.1), one image per
                                           # class (2.7). Another feature network has other units: there, only
                                           # the ratio to the floor carries over
    precision_warn: float = 0.7            # k-NN precision below this: many samples lie off the real manifold.
                                           # Measured (k=3, n=64 / 359): real held-out 0.90 / 0.91 (± 0.02), the
                                           # bundled model 0.89 ± 0.08 / 0.90, σ=0.3 noise 0.79 / 0.72, σ=0.5
                                           # noise 0.62 / 0.47, 5×5 blur 0.72 / 0.55, half the batch pure noise
                                           # 0.63 / 0.67, pure noise 0.33 / 0.37 (noise lands inside the balls of
                                           # atypical real images, so precision never falls near 0). Was 0.5,
                                           # which only pure noise fell below
    recall_warn: float = 0.3               # k-NN recall below this: the samples cover little of the data. Real
                                           # held-out 0.91 / 0.93, one image per class 0.00, pure noise 0.05 / 0.02
    cond_accuracy_warn: float = 0.8        # conditional accuracy (the feature net recognises the asked class)
                                           # below this: conditioning is weak (chance is 1/K)
    # ---- memorisation: nearest-training-image distances, samples vs real held-out images ------------------
    # Measured on digits 16×16 (pixel L2, 1,438 training images): real held-out images 1.00 and 1.1% near
    # copies by construction (at most 3.1% in 200 draws of 64); the bundled model 1.04 / 0.2%; class-mean
    # images 0.95 / 0%; blurred images 1.05–1.4 / 0%; training images verbatim 0.00 / 100%, with σ=0.05 pixel
    # noise 0.25 / 100%, σ=0.1 0.50 / 100%; a batch with 20% verbatim copies 0.97 / 20%.
    memorisation_ratio_warn: float = 0.7   # median distance of the samples to their nearest training image over
                                           # that of real held-out images below this: warn (the whole batch sits
                                           # close to training images)
    memorisation_copy_frac_warn: float = 0.1   # share of samples closer to a training image than 99% of real
                                           # held-out images are, above this: warn (some samples are copies;
                                           # real data scores 1%)
    # ---- likelihood and generalisation (diagnostics/likelihood.py, checks/generalisation.py) --------------
    bpd_gap_warn: float = 0.05             # held-out bits/dim above training bits/dim by more than this share (and
                                           # by > 3 standard errors of the paired gap): warn
    generalisation_gap_warn: float = 0.5   # in some band of t, the held-out denoising loss above the training loss
                                           # by more than this share (and by > 3 standard errors): warn
    # ---- colour: pixel RGB Fréchet distance and HSV-saturation W1, each over its real-vs-real floor ----------
    # Measured on emoji 32×32 (held-out real images against the training split, 20 floor draws): real vs real at
    # n = 32 and 64, 25 trials each, unweighted and class-balanced: median 1.0× (colour) / 0.9× (saturation),
    # 90th percentile 1.5× / 2.0×, largest 1.6× / 3.0×. At n = 64 (4 draws of images): R and B swapped 4.2–4.9× /
    # 0.5–1.1×, chroma ×2 2.6× / 3.3× (not flagged), ×3 4.1× / 4.9×, grey (seed 1) fail on both. The ratios of a
    # real shift grow with n as the floor shrinks (R and B swapped at n = 200: 8.3×).
    colour_ratio_warn: float = 3.5         # either distance above this multiple of its floor: warn
    colour_ratio_fail: float = 7.0         # ... above this: fail

    def as_dict(self) -> dict:
        return asdict(self)


DEFAULT_THRESHOLDS = Thresholds()
