"""The app's layout: four tabs (Train, Sample, Compare, Diagnostics) wired to demo/handlers.py.

Each tab's main action is a public API endpoint (api_name); the helpers that only keep the page in step
(timer ticks, dropdown refreshes, the trajectory slider) are private.
"""
from __future__ import annotations

import gradio as gr

from ddpm import SCHEDULES
from ddpm.diffusion import OBJECTIVES, WEIGHTINGS

from . import checkpoints, handlers, limits

CSS = """
.pixelated img, .pixelated canvas { image-rendering: pixelated; }
.caption p { margin: 0.2em 0; }
#diagnose-summary td:nth-child(2), #diagnose-summary th:nth-child(2) { white-space: nowrap; }
"""
TRAIN_POLL_SECONDS = 2.0
# Everything that runs the network shares one concurrency group: at most CONCURRENCY_LIMIT such requests
# at once over the whole app (gradio's limits are per event otherwise), the rest wait in the queue.
COMPUTE = dict(concurrency_id="compute", concurrency_limit=limits.CONCURRENCY_LIMIT)

INTRO = """# DDPM Workbench
Train, sample, compare and diagnose denoising diffusion models (DDPM / DDIM). The **Sample** tab starts
with digits from the bundled model; a model you train in **Train** appears in every checkpoint list when it
finishes. Every button here is also an API endpoint (see "Use via API" at the bottom of the page)."""


def launch_kwargs() -> dict:
    """What gradio 6 takes at launch() rather than in Blocks(): theme and CSS; plus the upload limit."""
    return dict(theme=gr.themes.Soft(), css=CSS, max_file_size=f"{limits.MAX_UPLOAD_MB}mb")


def _checkpoint_picker(info_upload: str):
    dd = gr.Dropdown(choices=handlers.checkpoint_choices(), value=checkpoints.BUNDLED, label="Checkpoint",
                     allow_custom_value=True, info="the bundled model or a finished / stopped run")
    with gr.Accordion("…or upload a checkpoint", open=False):
        up = gr.File(label="checkpoint (.safetensors)", type="filepath", file_count="single")
        gr.Markdown(info_upload)
    return dd, up


def _bundled_classes_and_T() -> tuple[list[str], int]:
    try:
        ckpt = handlers.load_model(checkpoints.BUNDLED)
        return (list(ckpt.class_names) if ckpt.num_classes else []), ckpt.diffusion_config.T
    except gr.Error:
        return [], limits.MAX_T


def build_demo() -> gr.Blocks:
    s_info = limits.sample_info()
    t_info = limits.train_info()
    classes, T = _bundled_classes_and_T()
    with gr.Blocks(title="DDPM Workbench", analytics_enabled=False, delete_cache=(1800, 3600)) as demo:
        gr.Markdown(INTRO)
        listing_sig = gr.State(None)
        status_sig = gr.State(None)
        with gr.Tabs(selected="sample"):
            # ------------------------------------------------------------------------------- Train
            with gr.Tab("Train", id="train"):
                with gr.Row():
                    with gr.Column(scale=1, min_width=320):
                        t_data = gr.Radio([("digits (built in: 1,797 labelled 8×8 digits)", "digits"),
                                           ("my .zip of class folders", "zip")], value="digits", label="Data set")
                        with gr.Group(visible=False) as t_zip_group:
                            t_zip = gr.File(label="training data (.zip)", type="filepath", file_count="single",
                                            height=140)
                            gr.Markdown(t_info["zip"], elem_classes="caption", padding=True)
                        with gr.Row():
                            t_preset = gr.Dropdown(list(limits.TRAIN_PRESETS), value="tiny", label="Preset")
                            t_schedule = gr.Dropdown(list(SCHEDULES), value="linear", label="Noise schedule")
                        with gr.Row():
                            t_objective = gr.Dropdown(list(OBJECTIVES), value="eps", label="Objective",
                                                      info="what the network predicts")
                            t_weighting = gr.Dropdown(list(WEIGHTINGS), value="min_snr", label="Loss weighting")
                        with gr.Row():
                            t_steps = gr.Number(2000, label="Training steps",
                                                elem_id="train-steps", precision=0, minimum=1,
                                                maximum=limits.MAX_TRAIN_STEPS, info=t_info["steps"])
                            t_batch = gr.Number(128, label="Batch size", elem_id="train-batch", precision=0, minimum=1,
                                                maximum=limits.MAX_BATCH_SIZE, info=t_info["batch_size"])
                        with gr.Row():
                            t_lr = gr.Number(1e-3, label="Learning rate", minimum=limits.LR_RANGE[0],
                                             maximum=limits.LR_RANGE[1], info=t_info["lr"])
                            t_sample_every = gr.Number(250, label="Sample grid every",
                                                       elem_id="train-sample-every", precision=0, minimum=0,
                                                       maximum=limits.MAX_TRAIN_STEPS, info=t_info["sample_every"])
                        t_dropout = gr.Slider(0, 0.5, value=0.1, step=0.05, label="Guidance (label) dropout",
                                              info=t_info["label_dropout"])
                        with gr.Accordion("Model size", open=False):
                            with gr.Row():
                                t_image_size = gr.Dropdown(list(limits.IMAGE_SIZES), value=16, label="Image size",
                                                           elem_id="train-image-size")
                                t_base = gr.Number(0, label="Base channels",
                                                   elem_id="train-base", precision=0, minimum=0,
                                                   maximum=limits.MAX_BASE_CHANNELS, info=t_info["base_channels"])
                                t_T = gr.Number(1000, label="T", elem_id="train-T", precision=0, minimum=limits.MIN_T,
                                                maximum=limits.MAX_T, info=t_info["T"])
                        with gr.Row():
                            t_start = gr.Button("Start training", variant="primary", elem_id="train-start")
                            t_stop = gr.Button("Stop", variant="stop", elem_id="train-stop")
                            t_refresh = gr.Button("Refresh", size="sm")
                    with gr.Column(scale=2):
                        t_status = gr.Markdown("Loading the training status…", label="status", show_label=False)
                        t_progress = gr.HTML(label="progress", elem_id="train-progress")
                        t_plot = gr.Plot(label="Loss", elem_id="train-plot")
                        t_sample = gr.Image(label="Latest sample grid",
                                            elem_id="train-sample", type="filepath", format="png",
                                            interactive=False, height=300, elem_classes="pixelated")
                        with gr.Accordion("Status as JSON", open=False):
                            t_json = gr.JSON(label="status")

            # ------------------------------------------------------------------------------ Sample
            with gr.Tab("Sample", id="sample"):
                with gr.Row():
                    with gr.Column(scale=1, min_width=320):
                        s_ckpt, s_upload = _checkpoint_picker(s_info["upload"])
                        s_classes = gr.CheckboxGroup(classes, value=[], label="Classes (none ticked = all)")
                        s_guidance = gr.Slider(0, limits.MAX_GUIDANCE, value=1.0, step=0.1, label="Guidance scale w",
                                               info=s_info["guidance"])
                        s_sampler = gr.Radio(list(handlers.SAMPLERS), value="DDIM", label="Sampler")
                        s_steps = gr.Slider(1, T, value=25, step=1, label="Steps", info=s_info["steps"])
                        s_eta = gr.Slider(0, 1, value=0.0, step=0.05, label="η (eta)", info=s_info["eta"])
                        with gr.Row():
                            s_temp = gr.Slider(0, limits.MAX_TEMPERATURE, value=1.0, step=0.05,
                                               label="Temperature", info=s_info["temperature"])
                            s_ntemp = gr.Slider(0, limits.MAX_TEMPERATURE, value=1.0, step=0.05,
                                                label="Step-noise temperature", info=s_info["noise_temperature"])
                        with gr.Row():
                            s_seed = gr.Number(0, label="Seed", precision=0, minimum=0, maximum=limits.MAX_SEED)
                            s_n = gr.Slider(1, limits.MAX_IMAGES, value=16, step=1, label="Images",
                                            elem_id="sample-n", info=s_info["n"])
                        s_btn = gr.Button("Sample", variant="primary", elem_id="sample-button")
                    with gr.Column(scale=2):
                        s_grid = gr.Image(label="Samples",
                                          elem_id="sample-grid", type="numpy", format="png", interactive=False,
                                          height=420, elem_classes="pixelated")
                        s_text = gr.Markdown(label="info",
                                             elem_id="sample-info", show_label=False, elem_classes="caption")
                        gr.Markdown("**How the samples form**: x_t (the noisy sample) and x̂_0 (the model's "
                                    "guess of the final image) at each frame.")
                        with gr.Row():
                            s_xt = gr.Image(label="x_t", elem_id="sample-xt", type="numpy", format="png",
                                            interactive=False, height=260, elem_classes="pixelated")
                            s_x0 = gr.Image(label="x̂_0", elem_id="sample-x0", type="numpy", format="png",
                                            interactive=False, height=260, elem_classes="pixelated")
                        s_frame = gr.Slider(0, limits.TRAJECTORY_FRAMES - 1, value=limits.TRAJECTORY_FRAMES // 2,
                                            step=1, label="trajectory frame")
                        s_files = gr.File(label="Download: PNG grid + .npz (images, labels, x_T, settings)",
                                          file_count="multiple", interactive=False)
                s_frames = gr.State(None)

            # ----------------------------------------------------------------------------- Compare
            with gr.Tab("Compare", id="compare") as compare_tab:
                with gr.Row():
                    with gr.Column(scale=1, min_width=320):
                        c_ckpt, c_upload = _checkpoint_picker(s_info["upload"])
                        c_classes = gr.CheckboxGroup(classes, value=[], label="Classes (none ticked = all)")
                        c_guidance = gr.Slider(0, limits.MAX_GUIDANCE, value=1.0, step=0.1,
                                               label="Guidance scale w", info=s_info["guidance"])
                        c_steps = gr.Slider(1, T, value=25, step=1, label="DDIM steps S", info=s_info["steps"])
                        c_eta = gr.Slider(0, 1, value=0.0, step=0.05, label="DDIM η", info=s_info["eta"])
                        with gr.Row():
                            c_seed = gr.Number(0, label="Seed", precision=0, minimum=0, maximum=limits.MAX_SEED)
                            c_n = gr.Slider(1, limits.MAX_COMPARE_IMAGES, value=8, step=1, label="Images",
                                            elem_id="compare-n",
                                            info=s_info["n_compare"])
                        c_btn = gr.Button("Compare DDPM and DDIM", variant="primary", elem_id="compare-button")
                        gr.Markdown("Both samplers start from the same seed and the very same x_T, so the "
                                    "difference is the sampler alone.", elem_classes="caption")
                    with gr.Column(scale=2):
                        with gr.Row():
                            with gr.Column():
                                c_ddpm = gr.Image(label="DDPM (all T steps)",
                                                  elem_id="compare-ddpm", type="numpy", format="png",
                                                  interactive=False, height=300, elem_classes="pixelated")
                                c_ddpm_text = gr.Markdown(label="ddpm_info", show_label=False, elem_classes="caption")
                            with gr.Column():
                                c_ddim = gr.Image(label="DDIM (S steps)",
                                                  elem_id="compare-ddim", type="numpy", format="png",
                                                  interactive=False, height=300, elem_classes="pixelated")
                                c_ddim_text = gr.Markdown(label="ddim_info", elem_id="compare-ddim-info",
                                                          show_label=False, elem_classes="caption")
                        with gr.Accordion("Numbers", open=False):
                            c_numbers = gr.JSON(label="comparison")
                        gr.Markdown("### Sample quality against sampling steps")
                        q_note = gr.Markdown(label="quality_note", show_label=False, elem_classes="caption")
                        q_plot = gr.Plot(label="quality vs steps", elem_id="quality-plot")
                        q_btn = gr.Button("Measure quality now (quick)", size="sm")

            # ------------------------------------------------------------------------- Diagnostics
            with gr.Tab("Diagnostics", id="diagnostics"):
                with gr.Row():
                    with gr.Column(scale=1, min_width=320):
                        d_ckpt, d_upload = _checkpoint_picker(s_info["upload"])
                        d_mode = gr.Radio(list(handlers.DIAGNOSE_MODES), value="quick", label="Report",
                                          info="quick: DDIM-20, n = 64, about a minute on a CPU; full: DDPM over "
                                               "all T steps, n = 500, tens of minutes on a CPU")
                        d_seed = gr.Number(0, label="Seed", precision=0, minimum=0, maximum=limits.MAX_SEED)
                        d_btn = gr.Button("Run diagnostics", variant="primary", elem_id="diagnose-button")
                        d_files = gr.File(label="Download the report (HTML + JSON)", file_count="multiple",
                                          interactive=False)
                    with gr.Column(scale=2):
                        d_summary = gr.Markdown("Pick a checkpoint and press **Run diagnostics**.", label="summary",
                                                elem_id="diagnose-summary",
                                                show_label=False)
                        d_html = gr.HTML(label="report", elem_id="diagnose-report")

        # ------------------------------------------------------------------------------------ events
        status_outputs = [t_status, t_progress, t_plot, t_sample, t_json]
        train_inputs = [t_data, t_zip, t_preset, t_schedule, t_objective, t_weighting, t_steps, t_batch, t_lr,
                        t_dropout, t_sample_every, t_image_size, t_base, t_T]
        t_start.click(handlers.train_start, train_inputs, status_outputs, api_name="train_start",
                      concurrency_limit=None)
        t_stop.click(handlers.train_stop, None, status_outputs, api_name="train_stop", concurrency_limit=None)
        t_refresh.click(handlers.train_status, None, status_outputs, api_name="train_status",
                        concurrency_limit=None)
        t_data.change(lambda d: gr.update(visible=d == "zip"), t_data, t_zip_group, api_visibility="private",
                      show_progress="hidden", queue=False)
        timer = gr.Timer(TRAIN_POLL_SECONDS)
        timer.tick(handlers.train_poll, [listing_sig, status_sig],
                   [*status_outputs, s_ckpt, c_ckpt, d_ckpt, listing_sig, status_sig],
                   api_visibility="private", show_progress="hidden", concurrency_limit=None)

        sample_inputs = [s_ckpt, s_upload, s_classes, s_guidance, s_sampler, s_steps, s_eta, s_temp, s_ntemp,
                         s_seed, s_n]
        sample_outputs = [s_grid, s_text, s_files, s_frame, s_xt, s_x0, s_frames]
        s_btn.click(handlers.sample, sample_inputs, sample_outputs, api_name="sample", **COMPUTE)
        s_frame.input(handlers.show_frame, [s_frames, s_frame], [s_xt, s_x0], api_visibility="private",
                      show_progress="hidden", trigger_mode="always_last", concurrency_limit=None)

        c_inputs = [c_ckpt, c_upload, c_classes, c_guidance, c_steps, c_eta, c_seed, c_n]
        c_btn.click(handlers.compare, c_inputs, [c_ddpm, c_ddim, c_ddpm_text, c_ddim_text, c_numbers],
                    api_name="compare", **COMPUTE)
        q_btn.click(handlers.measure_quality, [c_ckpt, c_upload], [q_plot, q_note], api_name="quality", **COMPUTE)
        compare_tab.select(handlers.quality_plot, [c_ckpt, c_upload], [q_plot, q_note], api_name="quality_plot",
                           show_progress="hidden")

        d_btn.click(handlers.diagnose, [d_ckpt, d_upload, d_mode, d_seed], [d_summary, d_html, d_files],
                    api_name="diagnose", **COMPUTE)

        # a checkpoint change re-reads its classes and T (and, on Compare, its quality plot)
        for dd, up, cls, steps in ((s_ckpt, s_upload, s_classes, s_steps), (c_ckpt, c_upload, c_classes, c_steps)):
            for trigger in (dd.change, up.change):
                trigger(handlers.class_choices_update, [dd, up], [cls], api_visibility="private",
                        show_progress="hidden")
                trigger(handlers.steps_update, [dd, up, steps], [steps], api_visibility="private",
                        show_progress="hidden")
        for trigger in (c_ckpt.change, c_upload.change):
            trigger(handlers.quality_plot_quiet, [c_ckpt, c_upload], [q_plot, q_note], api_visibility="private",
                    show_progress="hidden")

        demo.load(handlers.sample_on_load, None, sample_outputs, api_visibility="private", **COMPUTE)
        demo.load(handlers.train_poll, [listing_sig, status_sig],
                  [*status_outputs, s_ckpt, c_ckpt, d_ckpt, listing_sig, status_sig], api_visibility="private",
                  show_progress="hidden")
    return demo
