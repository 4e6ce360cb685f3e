from dualweb.wsgi import WSGIAdapter

from app import make_app

wsgi = WSGIAdapter(make_app())
