"""
===================================
Search hyper-parameters with Optuna
===================================

Which learning rate, weight decay, width and dropout suit a multi-layer perceptron? We
let `Optuna <https://optuna.org>`_ search (``pip install ".[tune]"``): each *trial*
trains a model with settings Optuna suggests and scores it on a validation split held out
from the training data; :class:`mnistkit.tune.PruningCallback` stops trials that fall
behind after an epoch. The winner is trained again on all the training data and measured
once on the test set, which took no part in choosing it.
"""

# %%
# Data: training, validation, test
# --------------------------------
#
# To keep the page quick the search uses the first 6,000 training images, of which 20%
# (stratified) are held out for validation. The test set is not touched until the end.
import warnings

import optuna

import mnistkit
from mnistkit.tune import PruningCallback

mnistkit.seed_everything(0)
mnist = mnistkit.datasets.load("mnist")
pool = mnist.train.subset(slice(0, 6_000))
train, val = mnistkit.train_val_split(pool, val_fraction=0.2, seed=0)
print(len(train), "training,", len(val), "validation images")

# %%
# The objective
# -------------
#
# One trial: build an MLP with one hidden layer of the suggested width and dropout, train
# it for three epochs with the suggested learning rate and weight decay, and return the
# validation accuracy. After each epoch the callback reports the accuracy to the trial;
# when the pruner judges it poor (below the median of earlier trials at that epoch), the
# run stops and :meth:`~mnistkit.tune.PruningCallback.raise_if_pruned` tells Optuna.
EPOCHS = 3


def settings(params):
    model = {"hidden_sizes": (params["width"],), "dropout": params["dropout"]}
    config = mnistkit.TrainConfig(
        epochs=EPOCHS,
        lr=params["lr"],
        weight_decay=params["weight_decay"],
        batch_size=128,
        progress=False,
    )
    return model, config


def objective(trial):
    params = {
        "lr": trial.suggest_float("lr", 1e-4, 3e-2, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-1, log=True),
        "width": trial.suggest_categorical("width", [32, 64, 128, 256]),
        "dropout": trial.suggest_float("dropout", 0.0, 0.5),
    }
    model_config, config = settings(params)
    pruning = PruningCallback(trial, monitor="val_accuracy")
    mnistkit.seed_everything(0)
    model = mnistkit.get_model("mlp", **model_config)
    history = mnistkit.Trainer(model, config, callbacks=[pruning]).fit(train, val=val)
    pruning.raise_if_pruned()
    return history.val_accuracy[-1]


# %%
# The study
# ---------
#
# The TPE sampler (seeded, for a reproducible page) proposes settings from what earlier
# trials scored; the median pruner starts judging after three finished trials and after
# the first epoch.
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.create_study(
    direction="maximize",
    sampler=optuna.samplers.TPESampler(seed=0),
    pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
)
study.optimize(objective, n_trials=16)
states = [t.state for t in study.trials]
pruned = states.count(optuna.trial.TrialState.PRUNED)
complete = states.count(optuna.trial.TrialState.COMPLETE)
print(f"{len(states)} trials: {complete} complete, {pruned} pruned")
print(
    "best validation accuracy:", round(study.best_value, 4), "with", study.best_params
)
assert pruned >= 1
assert study.best_value > 0.9

# %%
# Optuna's plots
# --------------
#
# Optuna draws its studies with Matplotlib too (:mod:`optuna.visualization.matplotlib`,
# marked experimental). The optimisation history shows the best score so far; the
# intermediate values show each trial's validation accuracy per epoch, pruned ones
# stopping early.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
from optuna.visualization import matplotlib as optuna_plots

ax = optuna_plots.plot_optimization_history(study)
ax.figure.set_size_inches(7, 3.5)

# %%
ax = optuna_plots.plot_intermediate_values(study)
ax.figure.set_size_inches(7, 3.5)
ax.get_legend().remove()

# %%
# The slice plot puts each trial's score against each setting, coloured by trial number:
# where the good scores gather, and how the sampler moved towards them.
axes = optuna_plots.plot_slice(study, params=["lr", "weight_decay", "width", "dropout"])
# Optuna puts the four panels in one row; two rows of two keep them readable on a phone.
fig = axes[0].figure
grid = fig.add_gridspec(
    2, 2, left=0.1, right=0.81, top=0.9, bottom=0.1, hspace=0.4, wspace=0.08
)
for ax, spec in zip(axes, grid, strict=True):
    ax.set_subplotspec(spec)
    if spec.is_first_col():  # the shared y axis is labelled on the left of each row
        ax.tick_params(labelleft=True)
        ax.set_ylabel(axes[0].get_ylabel())
colour_bar = next(ax for ax in fig.axes if ax not in list(axes))
colour_bar.set_position((0.86, 0.1, 0.025, 0.8))
fig.set_size_inches(7, 6)

# %%
# The winner, retrained and tested once
# -------------------------------------
#
# The search is over, so the validation images go back into the training data: the best
# settings are trained again on all 6,000 images (the whole training data of this page)
# and evaluated once on the 10,000 test images.
model_config, config = settings(study.best_params)
mnistkit.seed_everything(0)
final = mnistkit.Trainer(mnistkit.get_model("mlp", **model_config), config)
final.fit(pool)
report = final.evaluate(mnist.test)
print(f"test accuracy of the chosen settings: {report.accuracy:.2%}")
assert report.accuracy > 0.9
