from pathlib import Path

import streamlit as st

st.title("Deep Learning Playground")
st.markdown(
    "Learn deep learning by doing it, with real PyTorch underneath. "
    "Plot activation functions and watch gradients vanish, build a network layer by layer and "
    "watch it learn MNIST live, then draw a digit and see your own model read it."
)
CARDS = [
    ("app_pages/1_activation_lab.py", "1. Activation lab", ":material/show_chart:",
     "Plot ReLU, GELU, sigmoid and friends with their derivatives; measure vanishing gradients."),
    ("app_pages/2_build_and_train.py", "2. Build & train", ":material/model_training:",
     "Stack layers, pick an optimizer, and watch loss and accuracy move in real time."),
    ("app_pages/3_draw_and_classify.py", "3. Draw & classify", ":material/draw:",
     "Draw a digit; your trained model reads it and shows what it looked at."),
    ("app_pages/4_inside_the_network.py", "4. Inside the network", ":material/layers:",
     "Follow your digit through every layer, watch the filters form epoch by epoch, see where digits live."),
    ("app_pages/5_optimizer_race.py", "Optimizer race", ":material/sports_score:",
     "SGD, momentum, Adam and a reckless learning rate train the same network side by side."),
    ("app_pages/6_run_board.py", "Run board", ":material/leaderboard:",
     "Every run on this server, sortable, with the best highlighted: compare with the class."),
    ("app_pages/7_playground.py", "2-D playground", ":material/scatter_plot:",
     "TensorFlow Playground's datasets and tiny networks: press Play and watch the decision boundary form."),
    ("app_pages/8_gradient_descent.py", "Gradient descent", ":material/landscape:",
     "SGD, momentum, Adam and friends race down 2-D loss surfaces from the same start, step by step."),
    ("app_pages/9_generative.py", "Generative models", ":material/auto_awesome:",
     "An autoencoder and a VAE learn to draw digits again from two numbers: explore the map they make."),
    ("app_pages/10_gan_lab.py", "GAN lab", ":material/blur_on:",
     "A generator learns to draw a ring of points while a discriminator learns to tell: watch them play."),
    ("app_pages/11_sequences.py", "Sequences", ":material/view_timeline:",
     "An RNN, an LSTM and a GRU read a digit row by row: watch the state build up, and the gradient fade."),
    ("app_pages/12_attention.py", "Attention", ":material/hub:",
     "A small transformer learns text, sorting or digits here: see what every head attends to."),
    ("app_pages/13_transfer.py", "Transfer learning", ":material/call_split:",
     "Teach a digit model the class's own symbols from a few drawings: frozen, fine-tuned or from scratch."),
    ("app_pages/14_reinforcement.py", "Reinforcement learning", ":material/sports_esports:",
     "A Q-table finds its way through a gridworld, then a DQN learns to balance CartPole while you watch."),
]
# Each card is one link: its page link's box is stretched over the whole card, so a click anywhere on it is a
# click on that link (Streamlit's own navigation), and the keyboard still reaches it as one link.
CARD_CSS = """<style>
[class*="st-key-home_card_"] { position: relative; transition: border-color .15s, box-shadow .15s; }
[class*="st-key-home_card_"]:hover, [class*="st-key-home_card_"]:focus-within {
    border-color: var(--st-primary-color, #3b6fd8); box-shadow: 0 2px 10px rgba(0, 0, 0, .12); }
[class*="st-key-home_card_"] [data-testid="stElementContainer"]:has([data-testid="stPageLink"]) { position: static; }
[class*="st-key-home_card_"] [data-testid="stPageLink"] a::after { content: ""; position: absolute; inset: 0; }
</style>"""
st.html(CARD_CSS)
for row in (CARDS[i : i + 3] for i in range(0, len(CARDS), 3)):
    for column, (path, title, icon, text) in zip(st.columns(3), row):
        with column.container(border=True, height="stretch", key=f"home_card_{Path(path).stem}"):
            st.subheader(title)
            st.markdown(text)
            st.page_link(path, label=f"Open {title.split('. ')[-1]}", icon=icon)
st.caption("Teaching with a projector? Turn on presenter mode in the sidebar, or add `?present=1` to any page's "
           "address: settings hide, and text, numbers and charts grow.")
