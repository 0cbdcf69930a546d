
from setuptools import find_packages, setup

PACKAGE = 'ptr_trainer'

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    include_package_data=True,
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
    ],
    install_requires=['setuptools'],
    extras_require={'test': ['pytest']},  # colcon test runs pytest (ament_python)
    zip_safe=False,
    maintainer='ptr-ros developers',
    maintainer_email='dev@ptr-ros.org',
    description='Off-board trainer node: episodes in, CQL updates, signed weights out.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'trainer_node = ptr_trainer.trainer_node:main',
        ],
    },
)
