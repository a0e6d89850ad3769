"""The app's quality-vs-calls figures: every labelled number of network calls is one the rows have, labels kept
apart on the log axis (the largest always shown), and a legend of many series under the plot, not over its title."""
import pytest

pytest.importorskip("plotly")

from demo import plots  # noqa: E402


def _rows(series, calls):
    return [{"series": s, "network_calls": c, "steps": c, "fid": 2.0, "n": 64,
             "fid_ratio": {"estimate": 2.0, "low": 1.5, "high": 2.5}} for s in series for c in calls]


def test_the_calls_axis_labels_only_calls_the_rows_have_and_keeps_them_apart():
    fig = plots.quality_figure(_rows(["DDIM η=0"], [5, 10, 19, 20, 25, 50, 100, 1000]))
    ticks = list(fig.layout.xaxis.tickvals)
    assert ticks == [5, 10, 19, 25, 50, 100, 1000] and list(fig.layout.xaxis.ticktext) == [str(c) for c in ticks]
    assert all(b / a >= plots.MIN_TICK_RATIO for a, b in zip(ticks, ticks[1:]))
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"      # FID / floor: a ratio
    floor = fig.layout.annotations[0]                  # "real data (1×)" at 1 = 10^0, where the dashed line is
    assert floor.y == 0 and floor.yref == "y" and fig.layout.shapes[0].y0 == 1


@pytest.mark.parametrize("k, below", [(3, False), (7, True)])
def test_a_legend_of_many_series_goes_under_the_plot(k, below):
    fig = plots.quality_figure(_rows([f"sampler {i}" for i in range(k)], [10, 100]))
    assert len(fig.data) == k and (fig.layout.legend.y < 0) == below
    if below:                              # the plot keeps its height: the legend's lines are added to it
        assert fig.layout.height > 340 and fig.layout.margin.b > 50
    ungated = plots.quality_figure([{k_: v for k_, v in r.items() if k_ != "fid_ratio"} | {"fid_floor": 1.0}
                                    for r in _rows([f"s{i}" for i in range(k)], [10, 100])])
    assert (ungated.layout.legend.y < 0) == below                     # the figure without intervals alike
