"""Generate the dataset cards (``datasets/*.yaml``) from a data home holding the real files.

Usage (from the repository root)::

    .venv/bin/python datasets/_make_cards.py /work/shared/data

For every dataset below, every file under its folder is listed with its size in bytes,
its sha256 and its public download URL (``raw.githubusercontent.com/<owner>/<repo>/<commit>/<path>``,
from the repository, commit and path recorded in the folder's SOURCE.txt). Files that were made
locally (SOURCE.txt, previews) have no public copy: they get ``url: null`` and ``required: false``.

The metadata (titles, descriptions, licences, citations, how local paths map to upstream paths)
lives in this script; the committed cards are its output. Edit here and re-run; never hand-edit
hashes.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from urllib.parse import quote

import yaml

HERE = Path(__file__).resolve().parent

# --------------------------------------------------------------------------- upstream sources

RSATOOLBOX = ("rsagroup/rsatoolbox", "f1f83cadb7243492a1aae7460466e0f0140b20ac")
EEG_NOTEBOOKS = ("NeuroTechX/eeg-notebooks_v0.1", "5ee39e4f91080937ead13c208a65089cbb13b7f6")
EEGLAB = ("sccn/eeglab", "94b8557aa27484c4e2cb4775315802d420b93f32")
PYMVPA = ("PyMVPA/PyMVPA", "20f0335f98bbb59a0e11bc0b7a469edf8681a9a1")
SPYKESML = ("KordingLab/spykesML", "ff2b1830ae07909e5f1a0811445ca3fd5732dc6f")
PYNAPPLE_OLD = ("pynapple-org/pynapple", "d855ec089e5c540eff9ec18ea1d39e10a6a28d5e")
PYNAPPLE_HEAD = ("pynapple-org/pynapple", "7ac20f7a5232785e926c0bd8745093281e1f65fb")
MNE_TESTING = ("mne-tools/mne-testing-data", "e31ecb0ab137b3d89c938d0985d42f1d2ffb2bad")
MNE_PYTHON = ("mne-tools/mne-python", "8aa8dec45a522363be02cba78d0856442b208067")
PHYSIONET_EEGMMIDB = "https://physionet.org/files/eegmmidb/1.0.0/"
NET2BRAIN = ("cvai-roig-lab/Net2Brain", "05ac462951ef792ff2ba70c4b97d5409a8e44289")
COWLEY_V4 = ("cowleygroup/V4_compact_models", "f4552ad9d34a466ebc66658f72a08a8e5038f1cf")

LOCAL_ONLY = {"SOURCE.txt", "SHA256SUMS", "readme_upstream.txt", "montage_92imgs_preview.png", "README", "README.md"}


def raw_url(source: tuple[str, str] | str, path: str) -> str:
    if isinstance(source, str):  # a plain URL prefix (canonical download site)
        return source + quote(path)
    repo, commit = source
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{quote(path)}"


def src(source: tuple[str, str], path: str, licence: str) -> dict:
    return {"repository": source[0], "commit": source[1], "path": path, "licence": licence}


# --------------------------------------------------------------------------- citations

C = {
    "kriegeskorte2008": {
        "text": "Kriegeskorte N, Mur M, Ruff DA, Kiani R, Bodurka J, Esteky H, Tanaka K, Bandettini PA (2008). "
        "Matching categorical object representations in inferior temporal cortex of man and monkey. "
        "Neuron 60(6):1126-1141.",
        "doi": "10.1016/j.neuron.2008.10.043",
    },
    "kiani2007": {
        "text": "Kiani R, Esteky H, Mirpour K, Tanaka K (2007). Object category structure in response patterns "
        "of neuronal population in monkey inferior temporal cortex. J Neurophysiol 97(6):4296-4309.",
        "doi": "10.1152/jn.00024.2007",
    },
    "nili2014": {
        "text": "Nili H, Wingfield C, Walther A, Su L, Marslen-Wilson W, Kriegeskorte N (2014). A toolbox for "
        "representational similarity analysis. PLoS Comput Biol 10(4):e1003553.",
        "doi": "10.1371/journal.pcbi.1003553",
    },
    "haxby2001": {
        "text": "Haxby JV, Gobbini MI, Furey ML, Ishai A, Schouten JL, Pietrini P (2001). Distributed and "
        "overlapping representations of faces and objects in ventral temporal cortex. "
        "Science 293(5539):2425-2430.",
        "doi": "10.1126/science.1063736",
    },
    "hanke2009": {
        "text": "Hanke M, Halchenko YO, Sederberg PB, Hanson SJ, Haxby JV, Pollmann S (2009). PyMVPA: a Python "
        "toolbox for multivariate pattern analysis of fMRI data. Neuroinformatics 7(1):37-53.",
        "doi": "10.1007/s12021-008-9041-y",
    },
    "eeg_notebooks": {
        "text": "NeuroTechX (2017-2019). EEG Notebooks: democratizing the cognitive neuroscience experiment "
        "(Muse N170 face/house recordings), https://github.com/NeuroTechX/eeg-notebooks_v0.1 "
        "(Barachant A, Morrison D, Banville H, Kowaleski J, et al.).",
        "doi": None,
    },
    "delorme2004": {
        "text": "Delorme A, Makeig S (2004). EEGLAB: an open source toolbox for analysis of single-trial EEG "
        "dynamics including independent component analysis. J Neurosci Methods 134(1):9-21.",
        "doi": "10.1016/j.jneumeth.2003.10.009",
    },
    "stevenson2011": {
        "text": "Stevenson IH, Cherian A, London BM, Sachs NA, Lindberg E, Reimer J, Slutzky MW, Hatsopoulos NG, "
        "Miller LE, Kording KP (2011). Statistical assessment of the stability of neural movement "
        "representations. J Neurophysiol 106(2):764-774.",
        "doi": "10.1152/jn.00626.2010",
    },
    "benjamin2018": {
        "text": "Benjamin AS, Fernandes HL, Tomlinson T, Ramkumar P, VerSteeg C, Chowdhury RH, Miller LE, "
        "Kording KP (2018). Modern machine learning as a benchmark for fitting neural responses. "
        "Front Comput Neurosci 12:56.",
        "doi": "10.3389/fncom.2018.00056",
    },
    "zheng2022": {
        "text": "Zheng J, Schjetnan AGP, Yebra M, Gomes BA, Mosher CP, Kalia SK, Valiante TA, Mamelak AN, "
        "Kreiman G, Rutishauser U (2022). Neurons detect cognitive boundaries to structure episodic "
        "memories in humans. Nat Neurosci 25(3):358-368. Data: DANDI:000207.",
        "doi": "10.1038/s41593-022-01020-w",
    },
    "viejo2023": {
        "text": "Viejo G, Levenstein D, Skromne Carrasco S, Mehrotra D, Mahallati S, Vite GR, Denny H, Sjulson L, "
        "Battaglia FP, Peyrache A (2023). Pynapple, a toolbox for data analysis in neuroscience. "
        "eLife 12:RP85786.",
        "doi": "10.7554/eLife.85786",
    },
    "gramfort2013": {
        "text": "Gramfort A, Luessi M, Larson E, Engemann DA, Strohmeier D, Brodbeck C, Goj R, Jas M, Brooks T, "
        "Parkkonen L, Hamalainen M (2013). MEG and EEG data analysis with MNE-Python. "
        "Front Neurosci 7:267.",
        "doi": "10.3389/fnins.2013.00267",
    },
    "cichy2014": {
        "text": "Cichy RM, Pantazis D, Oliva A (2014). Resolving human object recognition in space and time. "
        "Nat Neurosci 17(3):455-462.",
        "doi": "10.1038/nn.3635",
    },
    "algonauts2019": {
        "text": "Cichy RM, Roig G, Andonian A, et al. (2019). The Algonauts Project: A platform for communication "
        "between the sciences of biological and artificial intelligence. arXiv:1905.05675.",
        "doi": "10.48550/arXiv.1905.05675",
    },
    "net2brain2025": {
        "text": "Bersch D, et al., Cichy RM, Roig G (2025). Net2Brain. Front Neuroinform 19:1515873 "
        "(https://github.com/cvai-roig-lab/Net2Brain).",
        "doi": None,
    },
    "goldberger2000": {
        "text": "Goldberger AL, Amaral LAN, Glass L, Hausdorff JM, Ivanov PCh, Mark RG, Mietus JE, Moody GB, Peng C-K, "
        "Stanley HE (2000). PhysioBank, PhysioToolkit, and PhysioNet: components of a new research resource for "
        "complex physiologic signals. Circulation 101(23):e215-e220.",
        "doi": "10.1161/01.CIR.101.23.e215",
    },
    "schalk2004": {
        "text": "Schalk G, McFarland DJ, Hinterberger T, Birbaumer N, Wolpaw JR (2004). BCI2000: a "
        "general-purpose brain-computer interface (BCI) system. IEEE Trans Biomed Eng 51(6):1034-1043 "
        "(source of the EDF+ recording, PhysioNet EEGMMIDB).",
        "doi": "10.1109/TBME.2004.827072",
    },
}


# --------------------------------------------------------------------------- the datasets
# Each ``rules`` entry maps a local path prefix to (source, upstream prefix). The first matching
# prefix wins; "" matches everything. ``select`` keeps only the local files a dataset owns
# (for folders shared by two datasets).

DATASETS: list[dict] = [
    {
        "name": "kriegeskorte92",
        "title": "Kriegeskorte et al. 2008: 92 object images, human and monkey IT RDMs",
        "modality": "rdm",
        "kinds": ["rdm"],
        "folder": "kriegeskorte92",
        "description": (
            "The 92 object images (175x175 RGB; 6 categories: human/nonhuman bodypart, human/nonhuman face, "
            "natural/artificial inanimate) of Kriegeskorte et al. 2008 with the 12 category flags; human IT "
            "fMRI representational dissimilarity matrices (1 - Pearson r) for 4 subjects (BE, KO, SN, TI) x 2 "
            "sessions; the monkey IT RDM from 674 neurons (Kiani et al. 2007) and the 316-voxel human IT RDM "
            "of figure 1; 16 behavioural (similarity judgement) RDMs; 8 model RDMs (animacy, "
            "FaceBodyManmadeNatobj, monkeyIT, EVA, HMAX, V1, Silhouette, RADON). MATLAB v5 files as "
            "distributed with rsatoolbox. simTruePatterns.mat is simulated, not real data."
        ),
        "licence_short": "MIT",
        "licence": (
            "MIT (rsatoolbox redistribution, (c) 2019 rsatoolbox authors). The 92 stimulus photographs are "
            "third-party images (Kiani et al. 2007 stimulus set) redistributed by rsatoolbox without a "
            "separate licence statement."
        ),
        "citations": [C["kriegeskorte2008"], C["kiani2007"], C["nili2014"]],
        "sources": [src(RSATOOLBOX, "demos/92imageData/", "MIT")],
        "rules": [("", RSATOOLBOX, "demos/92imageData/")],
        "selection": {
            "part": {
                "values": ["images", "human_it", "monkey_it", "human_it_316vx", "behaviour", "models", "brain"],
                "default": None,
                "help": "return only this part (default: a Kriegeskorte92 object with all parts); brain = one RDM "
                        "stack of human_it (sessions averaged per subject), monkey_it and behaviour with region and "
                        "subject coords",
            }
        },
        "notes": [
            "Condensed RDM vectors (4186 = 92*91/2) are expanded with scipy.spatial.distance.squareform "
            "(same order as MATLAB pdist/squareform).",
            "rdm92_V1model.mat and rdm92_HMAXnatImPatch.mat have identical content.",
        ],
    },
    {
        "name": "cichy92_fmri",
        "title": "Cichy et al. 2014: fMRI RDMs of early visual (EVC) and inferior temporal (IT) cortex, 92 images",
        "modality": "rdm",
        "kinds": ["rdm"],
        "folder": "cichy92_fmri",
        "description": (
            "Human fMRI representational dissimilarity matrices (1 - Pearson r between voxel patterns) of early "
            "visual cortex (EVC) and inferior temporal cortex (IT) for 15 subjects viewing the 92 object images of "
            "Kriegeskorte et al. 2008 (same images, same order as kriegeskorte92; white background). Algonauts 2019 "
            "training RDMs as redistributed by Net2Brain: one .npz per region, key 'Net_RDM', (15, 92, 92) float64. "
            "Local names carry a '92images_' prefix (upstream: input_data/brain_data/92images/fmri_<region>_RDMs.npz)."
        ),
        "licence_short": "BSD-3-Clause (Net2Brain); research use",
        "licence": (
            "BSD-3-Clause (Net2Brain repository LICENSE.txt, (c) 2021 authors of Net2Brain). "
            "The data are Cichy, Pantazis & Oliva 2014 fMRI released by the authors for the Algonauts 2019 "
            "challenge (research use; no separate data licence statement): attribute Net2Brain, Cichy et al. 2014 "
            "and Algonauts 2019."
        ),
        "citations": [C["cichy2014"], C["algonauts2019"], C["net2brain2025"]],
        "sources": [src(NET2BRAIN, "input_data/brain_data/92images/", "BSD-3-Clause")],
        "rules": [("92images_", NET2BRAIN, "input_data/brain_data/92images/")],
        "selection": {
            "region": {"values": ["EVC", "IT"], "default": None,
                       "help": "one region (default: both, 30 RDMs)"},
        },
        "notes": [
            "Symmetric (to 2e-16) with a zero diagonal; values 0..1.58 (EVC), 0..1.65 (IT), i.e. 1 - Pearson r.",
            "Leave-one-subject-out Spearman (each subject vs the mean of the others, averaged): IT 0.449, EVC 0.239.",
            "Needs the kriegeskorte92 files too: load() attaches its stimulus ids and category coords.",
            "MEG RDMs of the same set are not included (absent from the pinned Net2Brain snapshot).",
        ],
    },
    {
        "name": "cowley_v4",
        "title": "Cowley et al. 2023: macaque V4 multi-unit spike counts to natural images (3 sessions)",
        "modality": "spikes",
        "kinds": ["responses"],
        "folder": "cowley_v4",
        "description": (
            "Multi-unit spike counts (100 ms bin) of macaque V4 (Utah arrays) to natural images, from the "
            "V4_compact_models repository: sessions 190923 (monkey WE, 33 units, 1200 images, 14 repeats), 201025 "
            "(PE, 89 units, 1200 images, 12 repeats) and 210325 (PE, 50 units, 640 images of Bashivan et al. 2019, "
            "6-10 repeats). Repeat-averaged responses (unit, image) for all three, single-repeat responses (unit, "
            "image, repeat; NaN-padded) for 210325, and the 112x112 RGB JPEG images (one zip per session)."
        ),
        "licence_short": "GPL-3.0",
        "licence": (
            "GNU GPL v3 (the repository LICENSE covers the data files; no separate data licence). The images are "
            "natural photographs without a stated provenance. Never copy the files into this repository; cite the "
            "paper."
        ),
        "citations": [{
            "text": "Cowley BR, Stan PL, Pillow JW, Smith MA (2023). Compact deep neural network models of visual "
            "cortex. bioRxiv 2023.11.22.568315.",
            "doi": "10.1101/2023.11.22.568315",
        }],
        "sources": [src(COWLEY_V4, "data_V4_responses/", "GPL-3.0")],
        "rules": [
            ("images/", COWLEY_V4, "data_V4_responses/images/"),
            ("responses_raw/", COWLEY_V4, "data_V4_responses/responses_raw/"),
            ("responses_repeat_averaged/", COWLEY_V4, "data_V4_responses/responses_repeat_averaged/"),
        ],
        "select": [
            "SHA256SUMS", "SOURCE.txt", "readme_upstream.txt", "images/images_190923.zip", "images/images_201025.zip",
            "images/images_210325.zip", "responses_raw/responses_210325.npy",
            "responses_repeat_averaged/responses_190923.npy", "responses_repeat_averaged/responses_201025.npy",
            "responses_repeat_averaged/responses_210325.npy",
        ],
        "selection": {
            "session": {"values": ["190923", "201025", "210325"], "default": "210325",
                        "help": "recording session"},
            "part": {"values": ["responses", "trials", "images"], "default": "responses",
                     "help": "repeat-averaged responses, single repeats (210325 only) or the images"},
        },
        "notes": [
            "responses_repeat_averaged == nanmean(responses_raw, axis=2) for 210325 (checked when collected).",
            "Odd/even-repeat split-half r per unit (210325): median 0.63, 37 of 50 units above 0.5.",
            "190923's image zip has a top-level folder, the others not: the .jpg names are taken in sorted order.",
            "Stimulus ids are '<session>/imageNNNN' (image0001 = response column 0).",
            "readme_upstream.txt is the repository's data_V4_responses/readme.txt (session table), kept locally.",
        ],
    },
    {
        "name": "muse_n170",
        "title": "Muse N170 face vs house EEG (NeuroTechX eeg-notebooks)",
        "modality": "eeg",
        "kinds": ["recording"],
        "folder": "muse_n170",
        "description": (
            "Real EEG from a Muse 2016 headband (TP9, AF7, AF8, TP10 and an often unconnected 'Right AUX'; "
            "256 Hz nominal; microvolts) during an N170 face-vs-house image paradigm. Subjects 1, 2, 3, 10 "
            "and 11, several sessions and runs, one CSV per run (timestamps, channels, Marker0: 1 = house, "
            "2 = face, 0 = none). Also the 48 face and 48 house stimulus images (Haxby et al. 2001 set)."
        ),
        "licence_short": "BSD-3-Clause; images CC-BY-SA-3.0",
        "licence": (
            "BSD-3-Clause (eeg-notebooks, (c) 2017 Alexandre Barachant) for the recordings; stimulus images "
            "CC BY-SA 3.0 (Haxby et al. 2001; see stim/LICENSE.txt)."
        ),
        "citations": [C["eeg_notebooks"], C["haxby2001"]],
        "sources": [
            src(EEG_NOTEBOOKS, "data/visual/N170/", "BSD-3-Clause"),
            src(EEG_NOTEBOOKS, "notebooks/stimulus_presentation/stim/face_house/", "CC BY-SA 3.0"),
        ],
        "rules": [
            ("stim/", EEG_NOTEBOOKS, "notebooks/stimulus_presentation/stim/face_house/"),
            ("", EEG_NOTEBOOKS, "data/visual/N170/"),
        ],
        "selection": {
            "subject": {"values": [1, 2, 3, 10, 11], "default": None, "help": "int or list (default: all)"},
            "session": {"values": [1, 2, 3], "default": None, "help": "int or list (default: all)"},
        },
        "notes": [
            "subject3/session1 and subject3/session2 hold the same file (data_2018-05-14-19.38.10.csv, "
            "byte-identical): load() keeps it once and reports the duplicate.",
            "subject10 and subject3/session3 files end in '.csv.csv'; one subject10 run is short.",
            "Timestamps are Unix time in some files and device-relative seconds in others.",
            "Some runs contain railing/saturated stretches (+-1000 uV and more).",
            "Per-trial image identity is not recorded, only the category.",
            "Few markers in some runs: subject10 recording_2018-06-06-14.34.14, -14.42.27 and -14.45.33 hold a "
            "single non-zero Marker0 each, subject3/session3 recording_2018-05-31-16.03.39 holds 7.",
        ],
    },
    {
        "name": "eeglab_sample",
        "title": "EEGLAB tutorial dataset (32-channel EEG, continuous and epoched)",
        "modality": "eeg",
        "kinds": ["recording", "epochs"],
        "folder": "eeglab_sample",
        "description": (
            "The EEGLAB tutorial recording: 32-channel EEG (including EOG1/EOG2), 128 Hz, 238.3 s, 10-20 "
            "labels and 3-D channel locations. Events: 80 'square' (visual target, position 1|2) and 74 'rt' "
            "(button responses). Also the epoched version (80 epochs, -1..2 s, with ICA weights)."
        ),
        "licence_short": "BSD-2-Clause",
        "licence": "BSD-2-Clause (EEGLAB, (c) Swartz Center for Computational Neuroscience); shipped with the EEGLAB distribution.",
        "citations": [C["delorme2004"]],
        "sources": [src(EEGLAB, "sample_data/", "BSD-2-Clause")],
        "rules": [("", EEGLAB, "sample_data/")],
        "selection": {
            "kind": {"values": ["continuous", "epochs"], "default": "continuous",
                     "help": "continuous recording or the epoched file"},
        },
        "notes": [
            "Square position 1 vs 2 is not decodable from the ERPs (CV accuracy ~0.46); use stimulus- vs "
            "response-locked contrasts or ERP/ICA demos.",
        ],
    },
    {
        "name": "haxby2001",
        "title": "Haxby et al. 2001, subject 1: object-category fMRI (12 runs, one slice and 25 mm)",
        "modality": "fmri",
        "kinds": ["bold"],
        "folder": "haxby2001",
        "description": (
            "Real BOLD fMRI of subject 1 of Haxby et al. 2001, block design, 12 runs x 121 volumes, TR 2.5 s, "
            "8 categories per run (face, house, cat, bottle, scissors, shoe, chair, scrambledpix), one 22.5 s "
            "block each. Two versions of each run: one axial slice at full resolution (40x20x1, "
            "3.1x3.75x3.75 mm) and the whole brain resampled to 25 mm voxels (6x10x10). BIDS-like events, "
            "motion estimates for some runs, 25 mm masks and anatomy (OpenFMRI layout, as in PyMVPA)."
        ),
        "licence_short": "CC-BY-SA-3.0",
        "licence": (
            "CC BY-SA 3.0 (Haxby et al. 2001 data, released by the authors: attribute and share alike); "
            "PyMVPA redistribution MIT."
        ),
        "citations": [C["haxby2001"], C["hanke2009"]],
        "sources": [src(PYMVPA, "mvpa2/data/haxby2001/", "CC BY-SA 3.0 (data); MIT (PyMVPA)")],
        "rules": [("", PYMVPA, "mvpa2/data/haxby2001/")],
        "selection": {
            "run": {"values": list(range(1, 13)), "default": None, "help": "int or list (default: all 12)"},
            "resolution": {"values": ["1slice", "25mm"], "default": "1slice",
                           "help": "one full-resolution slice, or the 25 mm whole brain (toy)"},
            "mask": {"values": [None, "brain", "gray", "hoc", "vt", "white"], "default": None,
                     "help": "25 mm mask name (resolution='25mm' only; the vt mask has 1 voxel)"},
        },
        "notes": [
            "The 25 mm version decodes at about chance level (too coarse); use the 1-slice version.",
            "The vt mask at 25 mm holds a single voxel.",
        ],
    },
    {
        "name": "reaching_m1",
        "title": "Stevenson et al. 2011: macaque M1 binned spikes during reaching",
        "modality": "spikes",
        "kinds": ["binned_spikes"],
        "folder": "reaching_m1_s1",
        "select": ["m1_stevenson_2011.mat", "SOURCE.txt"],
        "description": (
            "Real macaque primary motor cortex (M1) recordings during 2-D centre-out / random-target reaching: "
            "171 units x 15536 bins of 50 ms (uint8 spike counts), with hand position and velocity (3 x 15536) "
            "and bin times. From the CRCNS 'dream' collection as redistributed by spykesML."
        ),
        "licence_short": "MIT (CRCNS terms)",
        "licence": "MIT (spykesML, (c) 2017 Ari Benjamin); underlying CRCNS data have their own terms of use (citation required).",
        "citations": [C["stevenson2011"], C["benjamin2018"]],
        "sources": [src(SPYKESML, "data/", "MIT")],
        "rules": [("", SPYKESML, "data/")],
        "selection": {"bin_size": {"values": None, "default": None,
                                   "help": "bin width in seconds; default from the file's time vector (50 ms)"}},
        "notes": [],
    },
    {
        "name": "reaching_s1",
        "title": "Macaque S1 (area 2) binned spikes during reaching (spykesML)",
        "modality": "spikes",
        "kinds": ["binned_spikes"],
        "folder": "reaching_m1_s1",
        "select": ["s1_data.mat", "SOURCE.txt"],
        "description": (
            "Real macaque somatosensory cortex (S1, area 2) recordings during reaching: 52 units x 35129 bins "
            "(uint8 spike counts) with hand position and velocity (35129 x 2), as redistributed by spykesML."
        ),
        "licence_short": "MIT (CRCNS terms)",
        "licence": "MIT (spykesML, (c) 2017 Ari Benjamin); underlying data have their own terms of use (citation required).",
        "citations": [C["benjamin2018"], C["stevenson2011"]],
        "sources": [src(SPYKESML, "data/", "MIT")],
        "rules": [("", SPYKESML, "data/")],
        "selection": {"bin_size": {"values": None, "default": None,
                                   "help": "bin width in seconds; undocumented upstream: 50 ms is assumed "
                                           "(attrs['bin_size_assumed']) unless given"}},
        "notes": ["The bin size is not documented in the source repository; 50 ms (as for M1) is assumed, unverified."],
    },
    {
        "name": "nwb_mtl",
        "title": "Zheng et al. 2022: human MTL single units (NWB)",
        "modality": "spikes",
        "kinds": ["spike_trains"],
        "folder": "nwb_units",
        "select": ["sub-4_ses-4_ecephys+image.nwb", "SOURCE.txt"],
        "description": (
            "Real human single units from one session of Zheng et al. 2022 (Rutishauser lab): 35 units "
            "(214,278 spikes) on 19 microwires in right hippocampus (14) and amygdala (5), with trial tables "
            "(encoding: 90 video clips with no/soft/hard boundaries; recognition: 180 trials with old/new, "
            "accuracy, confidence, RT; time discrimination: 180). NWB 2.x (HDF5), as used in the pynapple docs."
        ),
        "licence_short": "MIT (DANDI CC-BY-4.0)",
        "licence": "MIT (pynapple redistribution, (c) pynapple authors); DANDI:000207 dandisets are normally CC-BY-4.0 (not re-checked).",
        "citations": [C["zheng2022"], C["viejo2023"]],
        "sources": [src(PYNAPPLE_OLD, "docs/examples/nwb-files/", "MIT")],
        "rules": [("", PYNAPPLE_OLD, "docs/examples/nwb-files/")],
        "selection": {},
        "notes": ["The file was removed from pynapple's HEAD; the URL pins the 2023-09-25 commit."],
    },
    {
        "name": "nwb_phy",
        "title": "Small mouse phy export in NWB (pynapple test file)",
        "modality": "spikes",
        "kinds": ["spike_trains"],
        "folder": "nwb_units",
        "select": ["A8604-211122.nwb", "SOURCE.txt"],
        "description": (
            "Peyrache lab mouse, phy spike-sorting export converted to NWB by pynapple: only 3 units "
            "(21,354 spike times), 383-electrode Neuropixels table, one epoch, no behaviour. For loader tests only."
        ),
        "licence_short": "MIT",
        "licence": "MIT (pynapple, (c) pynapple authors).",
        "citations": [C["viejo2023"]],
        "sources": [src(PYNAPPLE_HEAD, "tests/nwbfilestest/phy/pynapplenwb/", "MIT")],
        "rules": [("", PYNAPPLE_HEAD, "tests/nwbfilestest/phy/pynapplenwb/")],
        "selection": {},
        "notes": ["Loader tests only: 3 units, no task."],
    },
    {
        "name": "mne_testing",
        "title": "EEG/MEG file-format samples from MNE's test data (EDF+, BDF+, FIF, BrainVision)",
        "modality": "eeg+meg",
        "kinds": ["recording"],
        "folder": "mne_testing",
        "description": (
            "Format samples: test_edf_overlapping_annotations.edf (real BCI2000 64-ch EEG from PhysioNet "
            "EEGMMIDB, header edited: reads as 128 Hz, 124 s, 38 T0/T1/T2 annotations; timing rescaled, for "
            "loader tests only), test_reduced.edf (138 EEG + status, 512 Hz, 6 s), multiple_annotation_chans.bdf "
            "(18 EEG, 125 Hz, 247 s, BDF+ annotations), test_elekta_3ch_raw.fif (3 MEG channels + STI, 1 kHz, "
            "80 s, 162 trigger events), test-ave.fif.gz (MNE 'sample' audvis evoked responses, 4 conditions, "
            "376 channels) and test.vhdr/.vmrk/.eeg (32-ch BrainVision, 1 kHz, 7.9 s, 13 markers)."
        ),
        "licence_short": "BSD-3-Clause; none stated",
        "licence": (
            "mne-testing-data has no licence file (used by MNE's BSD-3 tests; EDF recording from PhysioNet "
            "EEGMMIDB, ODC-By 1.0); files from mne-python are BSD-3-Clause."
        ),
        "citations": [C["gramfort2013"], C["schalk2004"]],
        "sources": [
            src(MNE_TESTING, "EDF/, BDF/, misc/", "none stated"),
            src(MNE_PYTHON, "mne/io/tests/data/, mne/io/brainvision/tests/data/", "BSD-3-Clause"),
        ],
        "rules": [
            ("test_edf_overlapping_annotations.edf", MNE_TESTING, "EDF/test_edf_overlapping_annotations.edf"),
            ("test_reduced.edf", MNE_TESTING, "EDF/test_reduced.edf"),
            ("multiple_annotation_chans.bdf", MNE_TESTING, "BDF/multiple_annotation_chans.bdf"),
            ("test_elekta_3ch_raw.fif", MNE_TESTING, "misc/test_elekta_3ch_raw.fif"),
            ("test-ave.fif.gz", MNE_PYTHON, "mne/io/tests/data/test-ave.fif.gz"),
            ("test.", MNE_PYTHON, "mne/io/brainvision/tests/data/test."),
        ],
        "selection": {
            "format": {"values": ["edf", "edf_reduced", "bdf", "fif", "brainvision"], "default": "edf",
                       "help": "which sample file to read"},
        },
        "notes": [
            "The EDF+ timing looks rescaled (T1 durations 5.125 s vs 4.1 s originally): use for loader tests, "
            "not science.",
        ],
    },
    {
        "name": "eegmmidb_s001",
        "title": "PhysioNet EEG Motor Movement/Imagery (EEGMMIDB), subject S001, runs 3-14 (64-ch EEG, EDF+)",
        "modality": "eeg",
        "kinds": ["recording"],
        "folder": "eegmmidb_s001",
        "description": (
            "BCI2000 64-channel EEG, 160 Hz, 125 s per run, EDF+ annotations T0 (rest), T1, T2 (~4.1 s each, "
            "30 cues per run). Runs 3/7/11: executed left (T1) / right (T2) fist; 4/8/12: imagined left/right "
            "fist; 5/9/13: executed both fists (T1) / both feet (T2); 6/10/14: imagined fists/feet. About 45 "
            "T1/T2 trials per condition over its 3 runs. The files are the PhysioNet originals (sha256 equal to "
            "MNE's eegbci checksums); the eyes-open/closed baselines R01/R02 are not included."
        ),
        "licence_short": "ODC-By-1.0",
        "licence": "Open Data Commons Attribution License v1.0 (PhysioNet EEGMMIDB v1.0.0); attribution required.",
        "citations": [C["schalk2004"], C["goldberger2000"]],
        "sources": [{"repository": "physionet.org/files/eegmmidb/1.0.0", "commit": "v1.0.0", "path": "S001/",
                     "licence": "ODC-By-1.0"}],
        "rules": [("", PHYSIONET_EEGMMIDB, "S001/")],
        "selection": {
            "runs": {"values": list(range(3, 15)), "default": [4, 8, 12],
                     "help": "run numbers (4/8/12 imagined left/right fist, 6/10/14 imagined fists/feet)"},
        },
        "notes": [
            "Sanity check (7-30 Hz, 0.5-2.5 s after the cue, CSP(4)+LDA): imagined left/right fist ~0.71, "
            "imagined fists/feet ~0.98 accuracy.",
            "Channel names are BCI2000's ('Fc5.', 'Iz..'); mne.datasets.eegbci.standardize gives 10-05 names.",
        ],
    },
]


# --------------------------------------------------------------------------- generation


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def upstream(rel: str, rules) -> str | None:
    if Path(rel).name in LOCAL_ONLY:
        return None
    for prefix, source, remote in rules:
        if rel.startswith(prefix):
            return raw_url(source, remote + rel[len(prefix):])
    raise SystemExit(f"no upstream rule for {rel!r}")


def make_card(meta: dict, data_home: Path) -> dict:
    folder = data_home / meta["folder"]
    rels = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    if "select" in meta:
        rels = [r for r in rels if r in meta["select"]]
    files = []
    for rel in rels:
        path = folder / rel
        url = upstream(rel, meta["rules"])
        files.append(
            {"path": rel, "size": path.stat().st_size, "sha256": sha256(path), "url": url,
             "required": url is not None}
        )
    card = {k: v for k, v in meta.items() if k not in ("rules", "select")}
    card["files"] = files
    return card


HEADER = (
    "# Dataset card generated by datasets/_make_cards.py from the real files; do not edit by hand\n"
    "# (change the script and re-run it). Sizes in bytes; sha256 of the exact bytes; url null = local-only.\n"
)


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit("usage: python datasets/_make_cards.py DATA_HOME")
    data_home = Path(argv[0])
    for meta in DATASETS:
        card = make_card(meta, data_home)
        text = HEADER + yaml.safe_dump(card, sort_keys=False, allow_unicode=True, width=110)
        (HERE / f"{meta['name']}.yaml").write_text(text, encoding="utf-8")
        print(f"{meta['name']}: {len(card['files'])} files")


if __name__ == "__main__":
    main(sys.argv[1:])
