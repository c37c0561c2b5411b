"""The stand-in platform APIs (the seed's ``mock-apis`` service), for tests, the demo and the bench.

This package is the framework every platform's stand-in builds on: the path every request takes
(mockapis.gate: latency, tokens, injected failures, rate windows, the request log), what the
stand-in remembers (mockapis.state: the run-time switches in mockapis.config, its records in
mockapis.records, its OAuth memory in mockapis.grants), the consent pages (mockapis.oauth), a media file server
(mockapis.media), the control interface and its client (mockapis.control, mockapis.client) and
the server (mockapis.server, ``manage.py run_mock_apis``). Each platform's stand-in, answering in
its real shapes (docs/platforms/), lives in its package (connections/platforms/<name>/standin.py);
connections.platforms.standins assembles them with this framework's URLs (MOCK_APIS_URLCONF).
Mounted under ``/mock/`` by planrrr/urls.py when MOCK_APIS_ENABLED, or served at the root by
``manage.py run_mock_apis``: ``<base>/_control/settings`` says where each platform is
(``<base>/graph``, ``<base>/x`` ...), media files are ``<base>/media/<name>``.
"""
