# Single entry point. `make book` builds the whole book on the default data into
# _build/html; `make test` runs the whole test suite. Both create the virtual environment
# (.venv, Python 3.12) from requirements.txt on first use.
PYTHON ?= python3.12
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CFF_STAMP := .venv-cff/.installed
# Optional: a parameters file for the build, e.g. `make book PARAMS=myrun.yml`.
PARAMS ?=

.PHONY: book pdf test lint bench release clean

$(STAMP): requirements.txt code/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

# cffconvert pins jsonschema<4: it gets an environment of its own.
$(CFF_STAMP):
	$(PYTHON) -m venv .venv-cff
	.venv-cff/bin/python -m pip install --quiet --disable-pip-version-check cffconvert==2.0.0
	touch $(CFF_STAMP)

book: $(STAMP)
	$(BIN)/python -m clusterpolicy build $(if $(PARAMS),--params $(PARAMS))

# The PDF needs TeX (Debian: texlive-latex-recommended texlive-latex-extra
# texlive-fonts-recommended texlive-xetex fonts-freefont-otf latexmk).
pdf: $(STAMP)
	$(BIN)/python -m clusterpolicy build --pdf $(if $(PARAMS),--params $(PARAMS))

test: $(STAMP) $(CFF_STAMP)
	$(BIN)/python -m pytest

# A release: the whole test suite, then the book built and its results frozen in
# releases/$(VERSION)/ (see README, "Releases").
release:
	@test -n "$(VERSION)" || { echo "usage: make release VERSION=X.Y.Z"; exit 2; }
	@test -z "$$(git status --porcelain)" || { echo "commit your changes first"; exit 2; }
	$(MAKE) test
	$(BIN)/python -m clusterpolicy release $(VERSION)

lint: $(STAMP)
	$(BIN)/ruff check code tests benchmarks
	$(BIN)/python tests/lint_chapters.py

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf _build
