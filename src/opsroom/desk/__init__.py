"""The service desk: a knowledge base of Markdown articles, searched to answer questions in
chat, with a ticket when no article fits."""
